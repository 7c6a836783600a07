"""The fuzz suite: mutated flow files, settings, eval specs and run inputs, run through the CLI."""
