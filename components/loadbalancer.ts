/**
 * LoadBalancer (aws, several nodes): a network load balancer across every node's gateway port, zones crossed,
 * each target's health from the gateway's own /health (up only while it has a healthy, synced upstream), the
 * client's address preserved (the gateway's per-IP limits keep working), and optionally a TLS listener on 443
 * with an ACM certificate. Its own security group admits the gateway's clients; the nodes admit it.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { GatewayConfig } from "./config";

/** The TLS policy of the 443 listener: TLS 1.3 and 1.2 with forward-secret ciphers only. */
export const LB_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

export interface LoadBalancerArgs {
    gateway: Pick<GatewayConfig, "port" | "allowedCidrs" | "tls" | "loadBalancerCertificateArn">;
    vpcId: pulumi.Input<string>;
    subnetIds: pulumi.Input<string>[];
    /** The nodes' instances, registered as targets by id. */
    instanceIds: pulumi.Input<string>[];
}

export class LoadBalancer extends pulumi.ComponentResource {
    public readonly dnsName: pulumi.Output<string>;
    /** The load balancer's security group: the nodes admit their gateway port from it. */
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ethnode:lb:LoadBalancer", name, {}, opts);
        const g = args.gateway;
        const tls = g.loadBalancerCertificateArn;
        const ports = tls ? [g.port, 443] : [g.port];
        const sg = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                description: "ethnode load balancer: the JSON-RPC gateway port only",
                vpcId: args.vpcId,
                ingress: ports.map((port) => ({
                    protocol: "tcp",
                    fromPort: port,
                    toPort: port,
                    cidrBlocks: g.allowedCidrs,
                    description: port === 443 ? "json-rpc over tls" : "json-rpc gateway",
                })),
                egress: [{ protocol: "tcp", fromPort: g.port, toPort: g.port, cidrBlocks: ["0.0.0.0/0"], description: "to the nodes' gateways" }],
                tags: { Name: `${name}-sg`, "ethnode:role": "load-balancer" },
            },
            { parent: this },
        );
        const lb = new aws.lb.LoadBalancer(
            name,
            {
                loadBalancerType: "network",
                internal: false,
                subnets: args.subnetIds,
                securityGroups: [sg.id],
                enableCrossZoneLoadBalancing: true,
                tags: { Name: name, "ethnode:role": "load-balancer" },
            },
            { parent: this },
        );
        const targets = new aws.lb.TargetGroup(
            `${name}-gateways`,
            {
                port: g.port,
                protocol: "TCP",
                targetType: "instance",
                vpcId: args.vpcId,
                preserveClientIp: "true",
                // A drained or replaced node's open connections get this long to finish.
                deregistrationDelay: 30,
                healthCheck: {
                    enabled: true,
                    protocol: g.tls ? "HTTPS" : "HTTP",
                    port: "traffic-port",
                    path: "/health",
                    matcher: "200",
                    interval: 10,
                    timeout: 5,
                    healthyThreshold: 2,
                    unhealthyThreshold: 2,
                },
                tags: { Name: `${name}-gateways` },
            },
            { parent: this },
        );
        args.instanceIds.forEach(
            (id, i) => new aws.lb.TargetGroupAttachment(`${name}-target-${i}`, { targetGroupArn: targets.arn, targetId: id, port: g.port }, { parent: this }),
        );
        new aws.lb.Listener(
            `${name}-rpc`,
            { loadBalancerArn: lb.arn, port: g.port, protocol: "TCP", defaultActions: [{ type: "forward", targetGroupArn: targets.arn }] },
            { parent: this },
        );
        if (tls) {
            new aws.lb.Listener(
                `${name}-tls`,
                {
                    loadBalancerArn: lb.arn,
                    port: 443,
                    protocol: "TLS",
                    certificateArn: tls,
                    sslPolicy: LB_TLS_POLICY,
                    defaultActions: [{ type: "forward", targetGroupArn: targets.arn }],
                },
                { parent: this },
            );
        }
        this.dnsName = lb.dnsName;
        this.securityGroupId = sg.id;
        this.registerOutputs({ dnsName: this.dnsName });
    }
}
