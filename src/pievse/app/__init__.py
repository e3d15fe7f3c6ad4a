"""The app layer: the composition root and everything that knows every other layer.

Nothing below imports it. Importing it gives the configuration the checks it borrows from the
drivers and the OCPP transport, so every way into the configuration (the daemon, the CLI, the
tests) checks a config the same way.
"""

from pievse.app.config_checks import provide_config_checks

provide_config_checks()
