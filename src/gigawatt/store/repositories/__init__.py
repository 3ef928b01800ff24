"""Repositories: the only code that writes SQL. Each function takes an open ``Session``
(the caller owns the transaction) and returns rows or plain values."""
