"""Zorgleefplan: a FHIR R4 service for the client-owned persoonlijk zorgleefplan."""

__version__ = "0.1.0"
