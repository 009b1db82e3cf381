"""The httpx client factory, phase timing, and the one boundary that translates httpx errors."""
