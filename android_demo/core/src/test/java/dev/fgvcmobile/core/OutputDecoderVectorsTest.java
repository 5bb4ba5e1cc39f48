package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Dequantized values, top-5 indices and scores equal Python's for float, int8 and uint8 outputs. */
public class OutputDecoderVectorsTest {

    @SuppressWarnings("unchecked")
    private static Quant quant(Map<String, Object> o) {
        Map<String, Object> q = (Map<String, Object>) o.get("quantization");
        return q == null ? null : new Quant((float) ((Number) q.get("scale")).doubleValue(), ((Long) q.get("zero_point")).intValue());
    }

    @Test
    @SuppressWarnings("unchecked")
    public void outputsDecodeAndRankLikePython() {
        List<Map<String, Object>> outputs = Vectors.list("outputs");
        assertEquals(3, outputs.size());
        for (Map<String, Object> o : outputs) {
            String name = (String) o.get("name");
            int n = ((Long) o.get("num_classes")).intValue();
            OutputFormat fmt = new OutputFormat(DType.fromName((String) o.get("dtype")), n, quant(o),
                    o.get("kind").equals("logits"));
            OutputDecoder dec = new OutputDecoder(fmt);
            double[] values = dec.values(ByteBuffer.wrap(Vectors.bytes((String) o.get("file"))).order(ByteOrder.LITTLE_ENDIAN));
            List<Object> expectedValues = (List<Object>) o.get("dequantized");
            for (int i = 0; i < n; i++) {
                assertEquals(name + " value " + i, ((Number) expectedValues.get(i)).doubleValue(), values[i], 1e-9);
            }
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                labels.add("c" + i);
            }
            List<Prediction> top = Prediction.topK(values, dec.scores(values), labels, 5);
            List<Object> expTop = (List<Object>) o.get("top5");
            List<Object> expScores = (List<Object>) o.get("top5_scores");
            int[] got = new int[top.size()];
            int[] want = new int[expTop.size()];
            for (int i = 0; i < want.length; i++) {
                want[i] = ((Long) expTop.get(i)).intValue();
                got[i] = top.get(i).index;
            }
            assertArrayEquals(name + " top-5", want, got);
            for (int i = 0; i < want.length; i++) {
                assertEquals(name + " score " + i, ((Number) expScores.get(i)).doubleValue(), top.get(i).score, 1e-6);
            }
        }
    }

    @Test
    public void latencyStatsMatchTheHarnessDefinition() {
        @SuppressWarnings("unchecked")
        Map<String, Object> lat = (Map<String, Object>) Vectors.index().get("latency");
        @SuppressWarnings("unchecked")
        List<Object> samples = (List<Object>) lat.get("samples_ms");
        double[] ms = new double[samples.size()];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = ((Number) samples.get(i)).doubleValue();
        }
        Map<String, Object> got = LatencyStats.of(ms).toMap();
        @SuppressWarnings("unchecked")
        Map<String, Object> want = (Map<String, Object>) lat.get("expected");
        assertEquals(want.keySet(), got.keySet());
        for (String k : want.keySet()) {
            assertEquals(k, ((Number) want.get(k)).doubleValue(), (Double) got.get(k), 1e-9);
        }
    }
}
