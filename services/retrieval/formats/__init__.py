"""Format readers: each turns one kind of document into `Element`s in reading order."""
