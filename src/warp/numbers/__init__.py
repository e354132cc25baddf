"""Numbers: inventory, search, reservation, DIDs, toll-free, porting and E911."""
