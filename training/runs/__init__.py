"""A run as a job wherever it trains (worker processes, Ray, a thread), a session's runs and
records, and sharing them with the class, a spreadsheet or the hub."""
