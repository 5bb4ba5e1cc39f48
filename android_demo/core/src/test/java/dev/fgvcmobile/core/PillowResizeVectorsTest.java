package dev.fgvcmobile.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.Test;

/** PillowResize equals the installed Pillow's Image.resize on both sides of its pass-order rule. */
public class PillowResizeVectorsTest {

    @Test
    @SuppressWarnings("unchecked")
    public void resizesAreByteIdenticalToPillow() {
        List<Map<String, Object>> resizes = Vectors.list("resizes");
        assertTrue("no resize vectors", resizes.size() >= 10);
        int verticalFirst = 0;
        for (Map<String, Object> r : resizes) {
            List<Object> in = (List<Object>) r.get("in_size");
            List<Object> out = (List<Object>) r.get("out_size");
            int wi = ((Long) in.get(0)).intValue();
            int hi = ((Long) in.get(1)).intValue();
            int wo = ((Long) out.get(0)).intValue();
            int ho = ((Long) out.get(1)).intValue();
            PillowResize.Filter f = PillowResize.Filter.valueOf(((String) r.get("filter")).toUpperCase(Locale.ROOT));
            RgbImage got = PillowResize.resize(new RgbImage(wi, hi, Vectors.bytes((String) r.get("input"))), wo, ho, f);
            byte[] want = Vectors.bytes((String) r.get("expected"));
            String what = r.get("input") + " -> " + wo + "x" + ho + " " + f;
            assertEquals(what, want.length, got.rgb.length);
            for (int i = 0; i < want.length; i++) {
                if (want[i] != got.rgb[i]) {
                    int px = i / 3;
                    throw new AssertionError(String.format(Locale.ROOT, "%s: pixel (%d, %d) channel %d is %d, Pillow has %d",
                            what, px % wo, px / wo, i % 3, got.rgb[i] & 0xFF, want[i] & 0xFF));
                }
            }
            verticalFirst += f != PillowResize.Filter.NEAREST && PillowResize.verticalFirst(wi, hi, wo, ho) ? 1 : 0;
        }
        assertTrue("the vectors must exercise the vertical-first order", verticalFirst >= 2);
    }
}
