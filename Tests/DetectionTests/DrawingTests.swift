import Testing
@testable import Detection

@Suite struct DrawingTests {
    @Test func boxesAndLabelsLandWhereTheyShould() {
        let image = RGBImage(width: 40, height: 30, fill: (10, 10, 10))
        let drawn = Drawing.annotated(image, [(classIndex: 1, box: [10, 12, 30, 28], score: 0.5)], names: ["a", "b"])
        func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let i = (y * drawn.width + x) * 3
            return (drawn.pixels[i], drawn.pixels[i + 1], drawn.pixels[i + 2])
        }
        let colour = Drawing.colour(forClass: 1)
        #expect(pixel(20, 27) == colour && pixel(10, 20) == colour && pixel(29, 20) == colour)   // bottom, left, right edges
        #expect(pixel(20, 20) == (10, 10, 10))                                                    // inside stays
        // The label "B 0.50" sits above the box on black: some pixels in the class colour.
        let labelRows = (3..<11).flatMap { y in (12..<48).filter { $0 < 40 }.map { pixel($0, y) } }
        #expect(labelRows.contains { $0 == colour } && labelRows.contains { $0 == (0, 0, 0) })
        // Enlarging repeats pixels; a sheet holds every image under its title.
        #expect(Drawing.enlarged(image, by: 3).width == 120)
        let sheet = Drawing.sheet([("one", image), ("two", image), ("three", image)], columns: 2)
        #expect(sheet.width == 2 * (40 + 8) + 8 && sheet.height == 2 * (30 + 14 + 8) + 8)
    }
}
