"""The worker: one pass (intake, outbox, deadlines), the courier, the journal, the loop."""
