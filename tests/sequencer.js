/*
 * The suites run on two jest workers. The live-cluster suite goes first: it is the longest, so
 * the other worker works through every other suite meanwhile. The rest
 * keep jest's own order: slowest first when a run before this one timed them, largest file first
 * otherwise.
 */
const Sequencer = require("@jest/test-sequencer").default;

const FIRST = /[\\/]kubernetesCluster\.test\.ts$/;

class ClusterFirst extends Sequencer {
    sort(tests) {
        const ordered = super.sort(tests);
        return [...ordered.filter(t => FIRST.test(t.path)), ...ordered.filter(t => !FIRST.test(t.path))];
    }
}

module.exports = ClusterFirst;
