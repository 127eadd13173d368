"""Monitor and maintain: live performance, input quality, drift, alerts, retraining, snapshots."""
