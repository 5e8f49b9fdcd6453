"""Physically simulated CBED data in the ORNL raw layout (abTEM, pyxtal, spglib)."""
