package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Map;
import org.junit.Test;

public class ManifestTest {

    private static String refusal(Map<String, Object> m) {
        return assertThrows(FgvcException.class, () -> Fixtures.parse(m)).getMessage();
    }

    @Test
    public void readsEveryField() {
        Manifest m = Fixtures.parse(Fixtures.manifestMap());
        assertEquals("model_int8.tflite", m.modelFile);
        assertEquals("tflite", m.format);
        assertEquals(4, m.labels.size());
        assertEquals(Layout.NHWC, m.input.layout);
        assertEquals(DType.INT8, m.input.dtype);
        assertArrayEquals(new int[] {1, 32, 32, 3}, m.input.shape);
        assertEquals(0.018658447f, m.input.quant.scale, 0f);
        assertEquals(-14, m.input.quant.zeroPoint);
        assertTrue(m.output.isLogits());
        assertEquals(32, m.preprocess.inputSize);
        assertEquals(36, m.preprocess.resizeH);
        assertEquals(PillowResize.Filter.BILINEAR, m.preprocess.interpolation);
        assertEquals(0.485f, m.preprocess.mean[0], 0f);
        assertNull(m.labelsFile);
        assertEquals(1, m.backbonePasses);
    }

    @Test
    public void twoPassPipelineIsReadAndABadCountRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        Map<String, Object> pipeline = new java.util.LinkedHashMap<>();
        pipeline.put("graphs", 1L);
        pipeline.put("backbone_passes", 2L);
        map.put("pipeline", pipeline);
        assertEquals(2, Fixtures.parse(map).backbonePasses);
        pipeline.put("backbone_passes", 0L);
        assertEquals("manifest.json: pipeline.backbone_passes must be >= 1, got 0", refusal(map));
    }

    @Test
    public void intResizeMeansSquareLikeResizeHw() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "preprocess").put("resize", 40L);
        Manifest m = Fixtures.parse(map);
        assertEquals(40, m.preprocess.resizeH);
        assertEquals(40, m.preprocess.resizeW);
    }

    @Test
    public void missingFieldIsNamedWithItsPath() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").remove("layout");
        assertEquals("manifest.json: input.layout is missing", refusal(map));
    }

    @Test
    public void badEnumValueIsNamed() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").put("dtype", "int4");
        String msg = refusal(map);
        assertTrue(msg, msg.contains("input.dtype must be one of uint8, int8, float32, float16, got 'int4'"));
    }

    @Test
    public void otherSchemaVersionsAreRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        map.put("schema_version", 2L);
        assertTrue(refusal(map).contains("schema_version 2 is not supported"));
    }

    @Test
    public void resizeSmallerThanCropIsRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "preprocess").put("resize", Fixtures.list(30L, 40L));
        assertTrue(refusal(map).contains("smaller than input_size 32"));
    }

    @Test
    public void wrongTypesAreRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "preprocess").put("input_size", 32.5);
        assertTrue(refusal(map).contains("preprocess.input_size must be an integer"));
        map = Fixtures.manifestMap();
        map.put("labels", Fixtures.list("a", 3L));
        assertTrue(refusal(map).contains("labels[1] must be a string"));
        map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").put("quantization", Fixtures.quant(-1.0, 0));
        assertTrue(refusal(map).contains("input.quantization"));
    }

    @Test
    public void zeroScaleMeansNotQuantized() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "output").put("quantization", Fixtures.quant(0.0, 0));
        assertNull(Fixtures.parse(map).output.quant);
    }

    @Test
    public void labelsFileMustAgreeWithTheManifest() {
        Manifest m = Fixtures.parse(Fixtures.manifestMap());
        m.checkLabelsFile("Black_footed_Albatross\nLaysan_Albatross\nSooty_Albatross\nGroove_billed_Ani\n", "labels.txt");
        m.checkLabelsFile("Black_footed_Albatross\r\nLaysan_Albatross\r\nSooty_Albatross\r\nGroove_billed_Ani", "labels.txt");
        String msg = assertThrows(FgvcException.class,
                () -> m.checkLabelsFile("Black_footed_Albatross\nLaysan_Albatross\nSooty_Albatross\n", "labels.txt")).getMessage();
        assertTrue(msg, msg.contains("labels.txt has 3 labels but manifest.json lists 4"));
        msg = assertThrows(FgvcException.class,
                () -> m.checkLabelsFile("Black_footed_Albatross\nLaysan_Albatross\nCrested_Auklet\nGroove_billed_Ani\n", "labels.txt")).getMessage();
        assertTrue(msg, msg.contains("line 3 is 'Crested_Auklet'"));
    }

    @Test
    public void notJsonIsNamed() {
        String msg = assertThrows(FgvcException.class, () -> Manifest.parse("{\"a\": }", "assets/manifest.json")).getMessage();
        assertTrue(msg, msg.startsWith("assets/manifest.json: invalid JSON at line 1"));
        msg = assertThrows(FgvcException.class, () -> Manifest.parse("[1]", "m.json")).getMessage();
        assertEquals("m.json: a manifest must be a JSON object", msg);
    }
}
