package dev.fgvcmobile.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A valid manifest as mutable maps, for tests that break one field at a time. */
final class Fixtures {
    private Fixtures() {
    }

    static Map<String, Object> manifestMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("schema_version", 1L);
        m.put("model_file", "model_int8.tflite");
        m.put("format", "tflite");
        m.put("precision", "int8");
        m.put("method", "rmg-pmsi");
        m.put("inference_rule", "concat");
        m.put("labels", new ArrayList<Object>(Arrays.asList("Black_footed_Albatross", "Laysan_Albatross",
                "Sooty_Albatross", "Groove_billed_Ani")));
        Map<String, Object> in = new LinkedHashMap<>();
        in.put("name", "image");
        in.put("layout", "NHWC");
        in.put("dtype", "int8");
        in.put("shape", list(1L, 32L, 32L, 3L));
        in.put("color", "RGB");
        in.put("normalization_in_graph", false);
        in.put("quantization", quant(0.018658447, -14));
        m.put("input", in);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("name", "logits");
        out.put("dtype", "int8");
        out.put("shape", list(1L, 4L));
        out.put("kind", "logits");
        out.put("quantization", quant(0.125, 3));
        m.put("output", out);
        Map<String, Object> pre = new LinkedHashMap<>();
        pre.put("input_size", 32L);
        pre.put("resize", list(36L, 36L));
        pre.put("mean", list(0.485, 0.456, 0.406));
        pre.put("std", list(0.229, 0.224, 0.225));
        pre.put("interpolation", "bilinear");
        m.put("preprocess", pre);
        return m;
    }

    static Map<String, Object> quant(double scale, long zp) {
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("scale", scale);
        q.put("zero_point", zp);
        return q;
    }

    static List<Object> list(Object... v) {
        return new ArrayList<>(Arrays.asList(v));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> sub(Map<String, Object> m, String key) {
        return (Map<String, Object>) m.get(key);
    }

    static Manifest parse(Map<String, Object> m) {
        return Manifest.parse(Json.write(m), "manifest.json");
    }
}
