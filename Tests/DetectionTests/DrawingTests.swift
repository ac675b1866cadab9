import Foundation
import Tapestry
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

/// A decoder's cross-attention laid over its image.
@Suite struct CrossAttentionMapTests {
    /// Two heads over the 2×3 cells of a 64×96 input (stride 32): the map averages the heads,
    /// and the overlay tints the peak cell white and a zero-weight cell not at all.
    @Test func cellsHeadsAndTint() throws {
        let head0: [Double] = [0.5, 0.5, 0, 0, 0, 0], head1: [Double] = [0.1, 0.1, 0, 0, 0, 0.8]
        let map = try CrossAttentionMap(weights: Tensor(head0 + head1, shape: [1, 2, 1, 6]), inputSize: (64, 96))
        #expect(map.grid.stride == 32 && map.grid.height == 2 && map.grid.width == 3)
        #expect(zip(map.weights[0], [0.3, 0.3, 0, 0, 0, 0.4]).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
        // The original image is twice the input's size: cell (1, 2) covers pixels x 128…191, y 64…127.
        let image = RGBImage(width: 192, height: 128, fill: (100, 100, 100))
        let tinted = map.overlay(query: 0, on: image)
        func pixel(_ x: Int, _ y: Int) -> [UInt8] { let i = (y * 192 + x) * 3; return Array(tinted.pixels[i..<(i + 3)]) }
        #expect(pixel(150, 100) == [178, 178, 178])     // the peak (0.4): white, half and half with grey 100
        #expect(pixel(70, 100) == [50, 50, 50])         // weight 0: black, half and half
        #expect(pixel(10, 10) == [178, 178, 82])         // 0.75 of the peak: yellow (blue ramp at 0.25)
    }

    /// SMCA's per-head log priors: head 0 peaks in cell (0, 0), head 1 in cell (1, 2); each
    /// is outlined in its colour around its own cell only.
    @Test func priorOutlinesByHand() throws {
        var logPriors = [Double](repeating: -10, count: 12)
        (logPriors[0], logPriors[6 + 5]) = (0, 0)
        let map = try CrossAttentionMap(weights: Tensor.full([1, 2, 1, 6], value: 1.0 / 6, dtype: .float64),
                                        priors: Tensor(logPriors, shape: [1, 2, 1, 6]), inputSize: (64, 96))
        let outlined = map.priorOutlines(query: 0, on: RGBImage(width: 96, height: 64, fill: (0, 0, 0)))
        func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) { let i = (y * 96 + x) * 3; return (outlined.pixels[i], outlined.pixels[i + 1], outlined.pixels[i + 2]) }
        #expect(pixel(0, 10) == Drawing.colour(forClass: 0) && pixel(31, 10) == Drawing.colour(forClass: 0))   // cell (0, 0)'s left and right edges
        #expect(pixel(16, 16) == (0, 0, 0))                                                                     // its inside
        #expect(pixel(95, 40) == Drawing.colour(forClass: 1) && pixel(64, 40) == Drawing.colour(forClass: 1))  // cell (1, 2)'s edges
        #expect(pixel(48, 16) == (0, 0, 0))                                                                     // cell (0, 1): neither
    }

    @Test func keysThatAreNoFeatureMapAreAnError() {
        #expect(throws: CrossAttentionMapError.self) { try CrossAttentionMap(weights: Tensor.zeros([1, 2, 1, 7]), inputSize: (64, 96)) }
    }
}

@Suite struct PerQueryScores {
    /// σ scores without SMCA's no-object column: each query's best class, by hand.
    @Test func sigmoidQueriesByHand() {
        let logits = Tensor([0, 2, 9, -1, -3, 5], shape: [1, 2, 3], dtype: .float64)     // last column: no-object
        let boxes = Tensor([0.5, 0.5, 0.2, 0.2, 0.25, 0.25, 0.5, 0.5], shape: [1, 2, 4], dtype: .float64)
        let queries = PostProcessor.sigmoidTopK(10, noObjectColumn: true).perQuery(DetectionOutput(logits: logits, boxes: boxes), imageSizes: [(100, 200)])[0]
        #expect(queries.map(\.classIndex) == [1, 0])
        #expect(Swift.abs(queries[0].score - 1 / (1 + Foundation.exp(-2.0))) < 1e-12 && Swift.abs(queries[1].score - 1 / (1 + Foundation.exp(1.0))) < 1e-12)
        #expect(queries[1].box == [0, 0, 100, 50])
    }
}

/// Deformable DETR's sampling points drawn over the image (`zoo attention` for deformable-detr).
@Suite struct SamplingPointsTests {
    /// One query, one head, two levels of one point each, on a 30×45 input: level 0 is 4×6
    /// cells (stride 8: ⌈30/8⌉ = 4, ⌈45/8⌉ = 6), covering 32×48 pixels; level 1 is 2×3
    /// (stride 16), covering 32×48 too.
    func points() throws -> SamplingPoints {
        let locations = Tensor([0.5, 0.25, 0.25, 0.75], shape: [1, 1, 1, 2, 1, 2], dtype: .float32)
        let weights = Tensor([0.75, 0.25], shape: [1, 1, 1, 2, 1], dtype: .float32)
        return try SamplingPoints(locations: locations, weights: weights, spatialShapes: [(4, 6), (2, 3)], inputSize: (30, 45))
    }

    @Test func pointsLieWhereTheLevelsPutThem() throws {
        let sampled = try points()
        #expect(sampled.strides == [8, 16])
        // Level 0: (0.5·48, 0.25·32) = (24, 8); level 1: (0.25·48, 0.75·32) = (12, 24).
        #expect(sampled.points[0] == [.init(x: 24, y: 8, weight: 0.75, level: 0, head: 0), .init(x: 12, y: 24, weight: 0.25, level: 1, head: 0)])
    }

    @Test func discsAreColouredByLevelAndSizedByWeight() throws {
        // Drawn on a picture twice the input's size: centres (48, 16) and (24, 48); radii
        // 6 for the heaviest point and 6·√(0.25/0.75) ≈ 3.46 for the other.
        let picture = try points().picture(query: 0, on: RGBImage(width: 90, height: 60, fill: (0, 0, 0)), largest: 6)
        func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let i = (y * picture.width + x) * 3
            return (picture.pixels[i], picture.pixels[i + 1], picture.pixels[i + 2])
        }
        let (level0, level1) = (Drawing.colour(forClass: 0), Drawing.colour(forClass: 1))
        #expect(pixel(48, 16) == level0 && pixel(53, 16) == level0 && pixel(48, 21) == level0)
        #expect(pixel(55, 16) == (0, 0, 0))
        #expect(pixel(24, 48) == level1 && pixel(26, 48) == level1)
        #expect(pixel(28, 48) == (0, 0, 0) && pixel(24, 52) == (0, 0, 0))
    }

    /// The finest level's cell under a pixel of a picture twice the input's size: pixel
    /// (50, 20) is input pixel (25, 10), cell row 10/8 = 1, column 25/8 = 3 of 6: query 9;
    /// the last pixel (89, 59) is input (44, 29): row 3, column 5, query 23.
    @Test func aPixelFindsItsFinestCell() throws {
        let sampled = try points(), picture = RGBImage(width: 90, height: 60)
        #expect(sampled.finestQuery(x: 50, y: 20, of: picture) == 9)
        #expect(sampled.finestQuery(x: 89, y: 59, of: picture) == 23)
    }

    @Test func shapesThatDoNotFitAreRefused() {
        let locations = Tensor.zeros([1, 1, 1, 2, 1, 2]), weights = Tensor.zeros([1, 1, 1, 2, 1])
        #expect(throws: SamplingPointsError.self) {
            try SamplingPoints(locations: locations, weights: Tensor.zeros([1, 1, 1, 2, 2]), spatialShapes: [(4, 6), (2, 3)], inputSize: (30, 45))
        }
        #expect(throws: SamplingPointsError.self) {       // a 5×6 level is no stride of a 30×45 input
            try SamplingPoints(locations: locations, weights: weights, spatialShapes: [(5, 6), (2, 3)], inputSize: (30, 45))
        }
    }
}

@Suite struct NeighbourhoodMapTests {
    /// Two heads of a 3×3 window on a 3×4 map over a 6×8 input (stride 2). Entry (head h,
    /// offset o, row r, column c) holds 1000h + 100o + 10r + c, so every read names its source.
    func map() throws -> NeighbourhoodMap {
        var values: [Double] = []
        for h in 0..<2 { for o in 0..<9 { for r in 0..<3 { for c in 0..<4 { values.append(Double(1000 * h + 100 * o + 10 * r + c)) } } } }
        return try NeighbourhoodMap(weights: Tensor(values, shape: [1, 2, 9, 3, 4], dtype: .float64), kernelSize: 3, inputSize: (6, 8))
    }

    @Test func aWindowIsItsOffsetsAtTheCell() throws {
        let neighbourhood = try map()
        #expect(neighbourhood.grid.stride == 2 && neighbourhood.heads == 2)
        let expected: [Double] = (0..<9).map { 1023 + 100 * Double($0) }
        #expect(neighbourhood.window(head: 1, row: 2, column: 3) == expected)
    }

    /// Cell (0, 0): offsets (a, b) with a, b ≥ 1 land inside, at (a − 1, b − 1); the heads'
    /// mean of offset o at that cell is (100o + 1000 + 100o)/2 = 100o + 500.
    @Test func cellWeightsPlaceTheWindowOnTheMapAndDropWhatFallsOutside() throws {
        var expected = [Double](repeating: 0, count: 12)
        (expected[0], expected[1], expected[4], expected[5]) = (900, 1000, 1200, 1300)
        #expect(try map().cellWeights(row: 0, column: 0) == expected)
    }

    /// On a black 16×12 picture (twice the input): pixel (5, 3) is cell (0, 1); its window
    /// covers rows −1…1 and columns 0…2, pixels [0, 12) × [0, 8) once clipped; outlined in white.
    @Test func theOverlayOutlinesTheWindow() throws {
        let picture = try map().overlay(x: 5, y: 3, on: RGBImage(width: 16, height: 12, fill: (0, 0, 0)))
        func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let i = (y * picture.width + x) * 3
            return (picture.pixels[i], picture.pixels[i + 1], picture.pixels[i + 2])
        }
        let (white, black): ((UInt8, UInt8, UInt8), (UInt8, UInt8, UInt8)) = ((255, 255, 255), (0, 0, 0))
        for (x, y) in [(6, 7), (11, 4), (0, 4)] { #expect(pixel(x, y) == white, "(\(x), \(y)) is on the outline") }
        for (x, y) in [(12, 4), (14, 10)] { #expect(pixel(x, y) == black, "(\(x), \(y)) is outside the window") }
        // Inside: tinted half and half, the heaviest cell (row 1, column 2: offset 8) white at half.
        #expect(pixel(9, 5) == (128, 128, 128))
    }

    /// Each head's window as 4-pixel squares from x = 4 + 16h, y = 10: head 0 at cell (0, 1)
    /// is heaviest at offset 8 (white), and its centre square is outlined in blue.
    @Test func headGridsByHand() throws {
        let grids = try map().headGrids(x: 5, y: 3, of: RGBImage(width: 16, height: 12), cellSize: 4)
        #expect(grids.width == 36 && grids.height == 26)
        func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
            let i = (y * grids.width + x) * 3
            return (grids.pixels[i], grids.pixels[i + 1], grids.pixels[i + 2])
        }
        #expect(pixel(13, 19) == (255, 255, 255))
        #expect(pixel(8, 14) == (80, 160, 255))
    }

    @Test func shapesThatDoNotFitAreRefused() {
        #expect(throws: NeighbourhoodMapError.self) { try NeighbourhoodMap(weights: Tensor.zeros([1, 2, 8, 3, 4]), kernelSize: 3, inputSize: (6, 8)) }
        #expect(throws: NeighbourhoodMapError.self) { try NeighbourhoodMap(weights: Tensor.zeros([2, 2, 9, 3, 4]), kernelSize: 3, inputSize: (6, 8)) }
        #expect(throws: NeighbourhoodMapError.self) {      // a 5×4 map is no stride of a 6×8 input
            try NeighbourhoodMap(weights: Tensor.zeros([1, 2, 9, 5, 4]), kernelSize: 3, inputSize: (6, 8))
        }
    }
}
