"""Maintain: retraining behind a champion/challenger gate, online snapshots, the cron schedule."""
