"""What tests share, apart from the fakes (tests/fakes/): loopback servers (`servers`), ccb as a child process
(`processes`), ccb in-process for set-up (`cli`), and re-reading Anthropic streams through the product's own
decoder (`sse`)."""
