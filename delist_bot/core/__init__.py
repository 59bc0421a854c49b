"""The pure core: models, rules, case transitions, review commands, deadlines, policy.

Nothing here reads a clock, a file or the network; time and ids are passed in."""
