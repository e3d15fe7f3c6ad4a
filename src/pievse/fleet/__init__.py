"""Many simulated charge points in one process, for load and soak tests of a CSMS.

Each station is the real station core with simulated hardware, the real OCPP 1.6 adapter and its
own websocket link; a scenario file (:mod:`pievse.fleet.scenario`) says what the cars, drivers and
network do. ``pievse fleet`` runs one (:mod:`pievse.fleet.cli`); :mod:`pievse.fleet.locust`
spreads stations over Locust workers.
"""
