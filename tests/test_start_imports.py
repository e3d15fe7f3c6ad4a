"""RSS 47 MiB while charging: a start imports what the configuration uses. ``cryptography``
(about 8-16 MiB resident) is for certificates and security profile 3 only."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.daemon_script import child_environment, in_memory_daemon

# A few connection attempts (refused): the link has asked for its transport settings.
START = in_memory_daemon(
    ocpp="security_profile = 0\\n", while_running="    await asyncio.sleep(1.5)",
    after="    import json, sys\n"
          "    print(json.dumps(sorted(m for m in sys.modules if m.startswith('cryptography'))))")


def test_rss_47_mib_while_charging_no_more_a_profile_0_start_does_not_import_cryptography():
    result = subprocess.run([sys.executable, "-c", START], env=child_environment(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
