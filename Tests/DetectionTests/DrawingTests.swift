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

/// The line chart `zoo plot` draws, pixel by pixel.
@Suite struct LinePlotTests {
    func colourAt(_ image: RGBImage, _ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * image.width + x) * 3
        return (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
    }

    @Test func seriesGoWhereTheirValuesAre() {
        // A rising series from (0, 0) to (10, 10) and one constant at 5 span the axes exactly.
        let plot = LinePlot(title: "loss", series: [.init(name: "a", points: [(0, 0), (10, 10)]), .init(name: "b", points: [(0, 5), (10, 5), (.nan, 3)])])
        let image = plot.render()
        let (first, second) = (Drawing.colour(forClass: 0), Drawing.colour(forClass: 1))
        let (left, bottom) = (LinePlot.left, plot.height - LinePlot.bottom - 1)
        let (right, top) = (plot.width - LinePlot.right - 1, LinePlot.top)
        #expect(plot.pixel(0, 0, plot.ranges!) == (left, bottom) && plot.pixel(10, 10, plot.ranges!) == (right, top))
        #expect(colourAt(image, left + 1, bottom) == first && colourAt(image, right, top) == first)
        // The constant series is a level line half-way up.
        let middle = plot.pixel(5, 5, plot.ranges!).1
        #expect(middle == (top + bottom + 1) / 2 || middle == (top + bottom) / 2)
        #expect(colourAt(image, left + 20, middle) == second && colourAt(image, right - 20, middle) == second)
        // Away from both lines the plot area is white.
        #expect(colourAt(image, right - 20, bottom - 5) == (255, 255, 255))
    }

    @Test func aFlatOrEmptyPlotStillDraws() {
        let flat = LinePlot(title: "ap", series: [.init(name: "run", points: [(0, 0.25), (5, 0.25)])])
        #expect(flat.ranges!.y.contains(0.25) && flat.ranges!.y.lowerBound < 0.25)
        let empty = LinePlot(title: "ap", series: [.init(name: "run", points: [(1, .infinity)])])
        #expect(empty.ranges == nil && empty.render().width == empty.width)
    }

    @Test func labelsAreShort() {
        #expect(LinePlot.label(25_000) == "25k" && LinePlot.label(1500) == "1.5k" && LinePlot.label(18.1) == "18")
        #expect(LinePlot.label(2.5) == "2.50" && LinePlot.label(0.01234) == "0.012" && LinePlot.label(0) == "0")
    }
}
