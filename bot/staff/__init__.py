"""Office staff's tools: the console, broadcasts, the export and the chart."""
