"""nmrstake: a Numerai-style NMR staking tournament on Ethereum."""

__version__ = "0.1.0"
