"""Routing: customer SIP trunks and ACLs, carriers, rate decks, partitions and least cost routing."""
