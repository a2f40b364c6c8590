"""Gateways, the meters behind them, and which patient a meter belongs to when."""
