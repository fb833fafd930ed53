"""The office's own paperwork: the 通报 and each unit's 催办通知, in the 公文 layout."""
