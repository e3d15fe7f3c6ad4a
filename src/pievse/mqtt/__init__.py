"""The station over MQTT: its state published for Home Assistant (with MQTT discovery) or any
other client, and a few controls on ``.../set`` topics.

``topics`` lays out where everything goes, ``state`` turns the station's status (the local API's
``GET /api/status``) into what is published, ``discovery`` describes the entities to Home
Assistant, ``commands`` reads the set topics, and ``bridge`` keeps the broker connection. Only
``bridge`` imports the MQTT client, and only a station with ``[mqtt] host`` set imports it.
"""
