"""The shell of a pass: intake, the pipeline, deadlines, the outbox with its courier and journal,
the digest, the wiring from a configuration, and the scheduler that runs passes forever."""
