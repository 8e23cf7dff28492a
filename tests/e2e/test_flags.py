"""Flags: --help documents every flag, a config file sets them, bad flags exit 2."""
import os
import re
import subprocess
import tempfile
import unittest

from sy_e2e import Server

SERVER = os.environ["SWITCHYARD_SERVER"]
CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "default.json")


class Flags(unittest.TestCase):
    def test_help_lists_every_config_key(self):
        out = subprocess.run([SERVER, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        with open(CONFIG) as f:
            keys = re.findall(r'^\s*"([a-z][a-z0-9-]*)":', f.read(), re.M)
        self.assertGreater(len(keys), 10)
        for key in keys + ["model", "device", "served-model-name", "config"]:
            self.assertIn("--" + key + " ", out.stdout)

    def test_bad_flags_exit_2_naming_the_flag(self):
        for args, word in [(["--max-num-seqs", "zero"], "--max-num-seqs"), (["--no-such-flag", "1"], "--no-such-flag"),
                           (["--config", "/nonexistent.json"], "--config")]:
            out = subprocess.run([SERVER, *args], capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, out.stderr)
            self.assertIn(word, out.stderr)

    def test_config_file_sets_values_and_flags_win(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"max-model-len": 64, "block-size": 8, "served-model-name": "from-config"}')
        try:
            server = Server("--config", f.name, "--block-size", "4")
            try:
                info = server.model_info()
                self.assertEqual(info.id, "from-config")
                self.assertEqual(info.max_context, 64)
                self.assertEqual(info.kv_block_size, 4)
            finally:
                self.assertEqual(server.stop(), 0)
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
