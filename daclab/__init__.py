"""daclab: transport measurements on superconducting hydrides in diamond anvil cells."""

__version__ = "0.1.0"
