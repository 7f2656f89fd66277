"""How flows are served and deployed."""
