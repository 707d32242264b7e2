"""The bank example: accounts (``bank.account_entity``) and transfers between them
(``bank.transfer_entity``), which use durable effects and a timer.

Run both with ``python -m bank.main`` (the user function) or, with a proxy in front,
``cloudstate run bank.main --path examples/bank``.
"""
