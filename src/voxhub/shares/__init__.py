"""Share links: a transcript, a podcast episode or a dub shown read-only to anyone holding its signed link."""
