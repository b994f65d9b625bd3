"""Built-in hedging strategies (the bot's strategy interface arrives with the daemon)."""
