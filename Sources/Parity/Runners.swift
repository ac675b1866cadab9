/// Every fixture runner: the layer library's, the detection toolkit's and the zoo models'.
public enum Runners {
    public static var all: [String: FixtureRunner] {
        LayerFixtures.runners.merging(DetectionFixtures.runners) { a, _ in a }.merging(ModelFixtures.runners) { a, _ in a }
    }
}
