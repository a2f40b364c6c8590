"""Dead letters: messages that could not be accepted, kept with the reason."""
