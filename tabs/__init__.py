"""One module per tab: layout plus thin handlers (inputs -> lab call -> outputs)."""
