"""--weight-dtype: int8 serves on CPU and GetModelInfo says so with the bytes it holds; bad values
exit 2 naming the flag."""
import os
import subprocess
import unittest

from sy_e2e import Server, generate_tokens, pb

SERVER = os.environ["SWITCHYARD_SERVER"]


class WeightDtype(unittest.TestCase):
    def test_int8_serves_and_reports_its_bytes(self):
        as_loaded = Server("--device", "cpu")
        try:
            info_loaded = as_loaded.model_info()
        finally:
            self.assertEqual(as_loaded.stop(), 0)
        server = Server("--device", "cpu", "--weight-dtype", "int8")
        try:
            info = server.model_info()
            self.assertEqual(info.weight_dtype, "int8")
            self.assertEqual(info_loaded.weight_dtype, "as-loaded")
            # The bundled model is tiny (hidden 32): int8 rows are padded to 64 bytes, so only
            # check that the held bytes are reported, not the checkpoint's.
            self.assertGreater(info.bytes_per_device["cpu"], 0)
            self.assertNotEqual(info.bytes_per_device["cpu"], info_loaded.bytes_per_device["cpu"])
            request = pb.GenerateRequest(token_ids=pb.TokenIds(ids=[5, 6, 7, 8]),
                                         sampling=pb.SamplingParams(temperature=0, max_tokens=6, min_tokens=6))
            tokens, _, _ = generate_tokens(server.stub, request)
            self.assertEqual(len(tokens[0]), 6)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_bad_value_exits_2_naming_the_flag(self):
        out = subprocess.run([SERVER, "--weight-dtype", "int4"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("--weight-dtype", out.stderr)
        self.assertIn("as-loaded or int8", out.stderr)


if __name__ == "__main__":
    unittest.main()
