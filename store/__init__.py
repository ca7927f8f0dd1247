"""The read model: SQLModel tables, engine and sessions, and the queries behind them."""
