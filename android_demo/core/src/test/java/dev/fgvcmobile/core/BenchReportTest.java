package dev.fgvcmobile.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The writer produces exactly sample_phone_report.json for the sample's inputs; the Python test
 * (tests/test_android_jvm.py) validates that file against the harness's report schema, so the
 * two together prove the app writes what {@code fgvc-mobile bench --import} reads.
 */
public class BenchReportTest {

    static String sampleReport() {
        BenchReport.Machine machine = new BenchReport.Machine();
        machine.manufacturer = "Google";
        machine.model = "Pixel 8";
        machine.soc = "Tensor G3";
        machine.abi = "arm64-v8a";
        machine.androidRelease = "15";
        machine.sdkInt = 35;
        machine.cores = 9;
        machine.runtimeVersion = "1.4.2";

        BenchReport.Row row = new BenchReport.Row();
        row.artifact = "model_int8.tflite";
        row.precision = "int8";
        row.method = "rmg-pmsi";
        row.delegate = "xnnpack";
        row.threads = 4;
        row.inputSize = 224;
        row.sizeBytes = 3145728L;
        row.loadMs = 41.5;
        row.firstInferenceMs = 18.25;
        row.warmupRuns = 10;
        row.runs = 8;
        row.latency = LatencyStats.of(new double[] {9.5, 9.75, 10.0, 10.25, 10.5, 11.0, 12.0, 14.0});
        row.peakRssMb = 182.5;
        row.notes = "EXAMPLE of the format android_demo writes; these numbers are made up, not a measurement";

        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("image", "synthetic");
        settings.put("timed", "interpreter.run only (preprocessing excluded)");
        return BenchReport.toJson(machine, Collections.singletonList(row),
                "fgvc-mobile-android 0.1.0 (EXAMPLE, not a measurement)", "2025-01-31T12:00:00Z", settings);
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = BenchReportTest.class.getResourceAsStream(name)) {
            assertNotNull(name + " is not on the test classpath", in);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.UTF_8);
        }
    }

    @Test
    public void writerProducesTheSampleFile() throws IOException {
        assertEquals(resource("/sample_phone_report.json"), sampleReport());
    }

    @Test
    @SuppressWarnings("unchecked")
    public void reportHasTheHarnessShape() {
        Map<String, Object> r = (Map<String, Object>) Json.parse(sampleReport());
        assertEquals(1L, r.get("schema_version"));
        assertEquals("fgvc-mobile-bench", r.get("kind"));
        Map<String, Object> machine = (Map<String, Object>) r.get("machine");
        assertEquals("Android 15 (API 35)", machine.get("os"));
        assertEquals("litert-android 1.4.2", machine.get("runtime"));
        assertEquals("arm64-v8a", ((Map<String, Object>) machine.get("device")).get("abi"));
        Map<String, Object> row = ((List<Map<String, Object>>) r.get("results")).get(0);
        assertEquals(Arrays.asList("artifact", "format", "precision", "method", "target", "runtime", "delegate",
                "threads", "batch", "input_size", "size_bytes", "backbone_passes", "load_ms", "first_inference_ms", "warmup_runs", "runs",
                "latency_ms", "peak_rss_mb", "notes"), Arrays.asList(row.keySet().toArray()));
        assertEquals("android", row.get("target"));
        Map<String, Object> lat = (Map<String, Object>) row.get("latency_ms");
        assertEquals(10.375, (Double) lat.get("p50"), 1e-12);
        assertEquals(Arrays.asList("mean", "std", "p50", "p90", "p99", "min", "max"), Arrays.asList(lat.keySet().toArray()));
    }

    @Test
    public void emptyReportsAndNamelessRowsAreRefused() {
        BenchReport.Machine m = new BenchReport.Machine();
        assertThrows(FgvcException.class, () -> BenchReport.toJson(m, Collections.<BenchReport.Row>emptyList(), "t", "c", null));
        assertThrows(FgvcException.class, () -> BenchReport.toJson(m, Collections.singletonList(new BenchReport.Row()), "t", "c", null));
    }
}
