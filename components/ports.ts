/** Host-local ports (loopback only; the security group never opens them) and public P2P ports. */
export type PortMap = Record<
    "gethHttp" | "gethWs" | "gethAuthRpc" | "gethMetrics" | "gethP2p" | "beaconHttp" | "beaconGrpc" | "beaconMetrics" | "beaconP2p" | "beaconQuic" | "validatorMetrics",
    number
>;

export const PORTS: Readonly<PortMap> = {
    gethHttp: 8545,
    gethWs: 8546,
    gethAuthRpc: 8551,
    gethMetrics: 6060,
    gethP2p: 30303,
    beaconHttp: 5052,
    /** Prysm's gRPC API, which its validator client speaks. */
    beaconGrpc: 4000,
    beaconMetrics: 5054,
    beaconP2p: 9000,
    beaconQuic: 9001,
    /** The validator client's metrics and health. */
    validatorMetrics: 8081,
};

export const LOOPBACK = "127.0.0.1";

/** The JWT shared by the execution and consensus clients, and the group allowed to read it. */
export const JWT_PATH = "/etc/ethnode/jwt.hex";
export const JWT_GROUP = "ethnode-jwt";
