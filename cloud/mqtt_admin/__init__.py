"""Mosquitto administration: accounts, ACLs and provisioning from the caredge registry."""
