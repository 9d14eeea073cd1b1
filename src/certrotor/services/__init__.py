"""Services: compose the store and the NetSuite client into the steps a user or the daemon runs."""
