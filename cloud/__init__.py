"""The cloud side: collector (MQTT -> InfluxDB), attribution, API, dashboard and reports."""
