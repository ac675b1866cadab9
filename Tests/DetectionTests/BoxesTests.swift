import Foundation
import Testing
@testable import Detection
@testable import Tapestry

@Suite struct BoxesTests {
    @Test func degenerateBoxesAreTypedErrors() throws {
        let good = Tensor([0, 0, 1, 1] as [Double], shape: [1, 4])
        let bad = Tensor([0, 0, 1, 1, 0.5, 0.5, 0.2, 0.9] as [Double], shape: [2, 4])
        #expect(throws: BoxError(index: 1, box: [0.5, 0.5, 0.2, 0.9], set: "second")) { try Boxes.generalizedIoU(good, bad) }
        #expect(try Boxes.generalizedIoU(good, good).item() == 1)
        let disjoint = Tensor([2, 0, 3, 1] as [Double], shape: [1, 4])
        // IoU 0, hull 3×1 = 3, union 2: GIoU = −1/3.
        #expect(Swift.abs(try Boxes.generalizedIoU(good, disjoint).item() + 1.0 / 3) < 1e-12)
        let roundTrip = Boxes.xyxyToCxcywh(Boxes.cxcywhToXyxy(Tensor([0.5, 0.5, 0.2, 0.4] as [Double], shape: [1, 4])))
        #expect(elementsClose(roundTrip.doubles(), [0.5, 0.5, 0.2, 0.4], within: 1e-15))
        #expect(Boxes.cxcywhToXyxy(Tensor([0.5, 0.5, 0.2, 0.4] as [Double], shape: [1, 4])).doubles() == [0.4, 0.3, 0.6, 0.7])
        #expect(Boxes.xyxyToXywh(Boxes.xywhToXyxy(Tensor([1, 2, 3, 4] as [Double], shape: [1, 4]))).doubles() == [1, 2, 3, 4])
    }
}
