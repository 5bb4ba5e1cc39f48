package dev.fgvcmobile.core;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The app's benchmark report, in the harness's versioned schema (benchmarks/report.schema.json,
 * v1) so that {@code fgvc-mobile bench --import} reads it like a host report. Field names and
 * units (milliseconds, MiB) follow that schema; see android_demo/README.md for the shape.
 */
public final class BenchReport {
    public static final int SCHEMA_VERSION = 1;
    public static final String KIND = "fgvc-mobile-bench";

    private BenchReport() {
    }

    /** The phone and runtime that produced the numbers. */
    public static final class Machine {
        public String manufacturer;
        public String model;
        public String soc;
        public String abi;
        public String androidRelease;
        public int sdkInt;
        public int cores;
        public String runtimeVersion;

        Map<String, Object> toMap() {
            Map<String, Object> device = new LinkedHashMap<>();
            device.put("manufacturer", manufacturer);
            device.put("model", model);
            device.put("soc", soc);
            device.put("abi", abi);
            device.put("android", androidRelease);
            Map<String, Object> libraries = new LinkedHashMap<>();
            libraries.put("litert-android", runtimeVersion);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("os", "Android " + androidRelease + " (API " + sdkInt + ")");
            m.put("cores", cores);
            m.put("device", device);
            m.put("abi", abi);
            m.put("runtime", "litert-android " + runtimeVersion);
            m.put("libraries", libraries);
            return m;
        }
    }

    /** One timed configuration: an artifact under one delegate and thread count. */
    public static final class Row {
        public String artifact;
        public String format = "tflite";
        public String precision;
        public String method;
        /** "xnnpack", "cpu", "gpu" or "nnapi". */
        public String delegate;
        public int threads;
        public int batch = 1;
        public int inputSize;
        public Long sizeBytes;
        /** Backbone runs per inference (the manifest's pipeline.backbone_passes). */
        public int backbonePasses = 1;
        /** Interpreter creation incl. delegate initialisation (model file already mapped). */
        public double loadMs;
        public double firstInferenceMs;
        public int warmupRuns;
        public int runs;
        public LatencyStats latency;
        /** The process's peak resident set (VmHWM), MiB; null when unknown. */
        public Double peakRssMb;
        public String notes;

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("artifact", artifact);
            m.put("format", format);
            m.put("precision", precision);
            m.put("method", method);
            m.put("target", "android");
            m.put("runtime", "litert");
            m.put("delegate", delegate);
            m.put("threads", threads);
            m.put("batch", batch);
            m.put("input_size", inputSize);
            m.put("size_bytes", sizeBytes);
            m.put("backbone_passes", backbonePasses);
            m.put("load_ms", loadMs);
            m.put("first_inference_ms", firstInferenceMs);
            m.put("warmup_runs", warmupRuns);
            m.put("runs", runs);
            m.put("latency_ms", latency == null ? null : latency.toMap());
            m.put("peak_rss_mb", peakRssMb);
            m.put("notes", notes);
            return m;
        }
    }

    /**
     * The report as JSON-ready maps.
     *
     * @param tool     what wrote it, e.g. "fgvc-mobile-android 0.1.0"
     * @param created  ISO-8601 time, e.g. "2025-01-31T12:00:00Z"
     * @param settings free-form run settings (image source, ...), or null
     */
    public static Map<String, Object> build(Machine machine, List<Row> rows, String tool, String created,
                                            Map<String, Object> settings) {
        if (rows.isEmpty()) {
            throw new FgvcException("a benchmark report needs at least one result row");
        }
        List<Object> results = new ArrayList<>();
        for (Row r : rows) {
            if (r.artifact == null || r.artifact.isEmpty()) {
                throw new FgvcException("a result row needs the artifact's file name");
            }
            results.add(r.toMap());
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schema_version", SCHEMA_VERSION);
        m.put("kind", KIND);
        m.put("created", created);
        m.put("tool", tool);
        m.put("machine", machine.toMap());
        m.put("settings", settings);
        m.put("results", results);
        return m;
    }

    public static String toJson(Machine machine, List<Row> rows, String tool, String created,
                                Map<String, Object> settings) {
        return Json.write(build(machine, rows, tool, created, settings));
    }
}
