"""Monitor: windows of the prediction log checked for performance, input quality, drift; alerts, history."""
