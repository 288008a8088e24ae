/**
 * ClusterNetwork (aws, several nodes): the security group every node shares. It admits its own members only,
 * on the ports nodes use between themselves — the gateways' peer listener and metrics port (Prometheus on the
 * first node scrapes the others), and VictoriaLogs' port when the first node keeps the logs — and, once the load
 * balancer exists, the gateway port from the load balancer.
 * Nothing here is reachable from outside the cluster.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { GatewayConfig } from "./config";

export interface ClusterNetworkArgs {
    vpcId: pulumi.Input<string>;
    gateway: Pick<GatewayConfig, "port" | "peerPort" | "metricsPort">;
    /** Central logs on the first node: the others ship their journals to it on this port. */
    logsPort?: number;
}

export class ClusterNetwork extends pulumi.ComponentResource {
    public readonly securityGroupId: pulumi.Output<string>;
    private readonly name: string;
    private readonly port: number;

    constructor(name: string, args: ClusterNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:cluster:ClusterNetwork", name, {}, opts);
        this.name = name;
        this.port = args.gateway.port;
        // Rules as resources of their own (not inline): a rule that names the group itself, or a group created
        // later (the load balancer's), cannot be inline.
        const sg = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            { description: "ethnode cluster: node to node only", vpcId: args.vpcId, tags: { Name: `${name}-sg`, "ethnode:role": "cluster" } },
            { parent: this },
        );
        const self = [
            { port: args.gateway.peerPort, what: "peer", description: "gateway peer listener, from the other nodes" },
            { port: args.gateway.metricsPort, what: "metrics", description: "gateway metrics port, from the node running Prometheus" },
            ...(args.logsPort !== undefined ? [{ port: args.logsPort, what: "logs", description: "journal upload, to the node running VictoriaLogs" }] : []),
        ];
        for (const r of self) {
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-${r.what}`,
                { securityGroupId: sg.id, referencedSecurityGroupId: sg.id, ipProtocol: "tcp", fromPort: r.port, toPort: r.port, description: r.description },
                { parent: this },
            );
        }
        this.securityGroupId = sg.id;
        this.registerOutputs({ securityGroupId: this.securityGroupId });
    }

    /** Admits a load balancer's security group to every node's gateway port (its traffic and health checks). */
    admitLoadBalancer(lbSecurityGroupId: pulumi.Input<string>): aws.vpc.SecurityGroupIngressRule {
        return new aws.vpc.SecurityGroupIngressRule(
            `${this.name}-from-lb`,
            {
                securityGroupId: this.securityGroupId,
                referencedSecurityGroupId: lbSecurityGroupId,
                ipProtocol: "tcp",
                fromPort: this.port,
                toPort: this.port,
                description: "json-rpc gateway, from the load balancer",
            },
            { parent: this },
        );
    }
}
