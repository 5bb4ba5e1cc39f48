package dev.fgvcmobile.demo

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

class DecodeSizeTest {
    @Test
    fun smallImagesAreDecodedAtFullSizeSoTheyMatchPython() {
        assertEquals(1, DecodeSize.sampleSize(1024, 768, 256, 256))
        assertEquals(1, DecodeSize.sampleSize(1200, 1100, 256, 256))
        assertEquals(1, DecodeSize.sampleSize(10, 10, 256, 256)) // upscaling is the resize's job
    }

    @Test
    fun a48MegapixelPhotoIsSubsampledToWhatTheModelNeeds() {
        val n = DecodeSize.sampleSize(8000, 6000, 256, 256)
        assertEquals(5, n)
        // still at least FACTOR x the model's resize on the short side, in either orientation
        assertTrue(6000 / n >= DecodeSize.FACTOR * 256)
        assertEquals(n, DecodeSize.sampleSize(6000, 8000, 256, 256))
        // and the decoded bitmap is small: 1600 x 1200 ARGB = 7.3 MiB instead of 183 MiB
        assertTrue(4L * (8000 / n) * (6000 / n) < 8L * 1024 * 1024)
    }

    @Test
    fun theModelsLongerSideCounts() {
        assertEquals(2, DecodeSize.sampleSize(4000, 3000, 200, 320))
        assertEquals(2, DecodeSize.sampleSize(4000, 3000, 320, 200))
    }

    @Test(expected = IllegalArgumentException::class)
    fun anEmptyImageIsRefused() {
        DecodeSize.sampleSize(0, 10, 224, 224)
    }
}
